// The fleet page (#/fleet).
"use strict";

import {t} from "../core.js";

export const route = "fleet";
export const navKey = "nav_fleet";
export const text = {zh: {nav_fleet: "设备"}, en: {nav_fleet: "Fleet"}};

export function render(view) {
  view.innerHTML = `<h2>${t().nav_fleet}</h2>`;
}
