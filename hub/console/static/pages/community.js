// The community page (#/community).
"use strict";

import {t} from "../core.js";

export const route = "community";
export const navKey = "nav_community";
export const text = {zh: {nav_community: "社区"}, en: {nav_community: "Community"}};

export function render(view) {
  view.innerHTML = `<h2>${t().nav_community}</h2>`;
}
