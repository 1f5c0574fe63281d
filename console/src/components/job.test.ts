/**
 * A long job's progress box is a live region (role="status"): what it says aloud must change only
 * when something meaningful does (the label, the server's stage), not every second with its timer.
 */
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Working } from "./job.js";

/** The live region's text as a screen reader gets it: without what is aria-hidden. */
const spoken = (html: string) =>
  html
    .replace(/<(\w+)[^>]*aria-hidden="true"[^>]*>.*?<\/\1>/g, "")
    .replace(/<[^>]+>/g, "")
    .trim();

describe("the Working box", () => {
  it("shows the seconds spent, but its live region does not announce them", () => {
    const at = (started: number) =>
      renderToStaticMarkup(createElement(Working, { label: "Running the what-if…", started }));
    const early = at(Date.now() - 3_000);
    const later = at(Date.now() - 42_000);
    expect(early).toContain('role="status"');
    expect(early).toMatch(/>\d+ s</);
    expect(later).toMatch(/>\d+ s</);
    expect(spoken(early)).toBe(spoken(later));
    expect(spoken(later)).toBe("Running the what-if…");
  });

  it("announces the stage the server names", () => {
    const html = renderToStaticMarkup(
      createElement(Working, {
        label: "Running the what-if…",
        started: Date.now() - 5_000,
        progress: { stage: "grouping and deciding the population", done: 2, total: 5 },
      }),
    );
    expect(spoken(html)).toContain("grouping and deciding the population");
  });
});
