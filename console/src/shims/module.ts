/**
 * `createRequire` for the few CommonJS packages shared server modules load through it (country
 * names): the browser gets them as ES imports, by the same ids.
 */
import countries from "i18n-iso-countries/index.js";
import en from "i18n-iso-countries/langs/en.json";

const MODULES: Readonly<Record<string, unknown>> = {
  "i18n-iso-countries/index.js": countries,
  "i18n-iso-countries/langs/en.json": en,
};

export function createRequire(_from: string): (id: string) => unknown {
  return (id) => {
    if (!(id in MODULES)) throw new Error(`the console does not bundle ${id}`);
    return MODULES[id];
  };
}
