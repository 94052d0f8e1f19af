// The dashboard page (#/dashboard).
"use strict";

import {t} from "../core.js";

export const route = "dashboard";
export const navKey = "nav_dashboard";
export const text = {zh: {nav_dashboard: "统计"}, en: {nav_dashboard: "Dashboard"}};

export function render(view) {
  view.innerHTML = `<h2>${t().nav_dashboard}</h2>`;
}
