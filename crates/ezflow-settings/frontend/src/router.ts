// Page routing: one page shown at a time in the page container, which
// carries data-current-page; the sidebar's buttons (data-page) mark the
// current one. General is in the first chunk; every other page is loaded
// when first shown (dynamic import()).

import type { Context, Page, PageModule } from "./context";
import { clear } from "./dom";

export const PAGES = ["general", "models", "privacy", "performance"] as const;
export type PageName = (typeof PAGES)[number];

export type Loaders = Record<string, () => Promise<PageModule>>;

export function isPageName(name: string): name is PageName {
  return (PAGES as readonly string[]).includes(name);
}

export class Router {
  private current: Page | null = null;
  private currentName: string | null = null;
  /** Counts navigations, so a slow page load that was overtaken is dropped. */
  private generation = 0;

  constructor(
    private readonly container: HTMLElement,
    private readonly nav: ParentNode | null,
    private readonly loaders: Loaders,
    private readonly ctx: Context,
  ) {}

  get page(): string | null {
    return this.currentName;
  }

  /** Shows page `name`; resolves when it is mounted. Unknown names are
   * refused (false). */
  async go(name: string): Promise<boolean> {
    const load = this.loaders[name];
    if (!load) return false;
    const generation = ++this.generation;
    this.leave();
    this.currentName = name;
    this.container.dataset.currentPage = name;
    this.container.setAttribute("aria-busy", "true");
    for (const button of this.nav?.querySelectorAll<HTMLElement>("[data-page]") ?? []) {
      if (button.dataset.page === name) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    let module: PageModule;
    try {
      module = await load();
    } catch (e) {
      if (generation !== this.generation) return false;
      this.container.removeAttribute("aria-busy");
      this.container.textContent = `This page could not be loaded: ${String(e)}`;
      return false;
    }
    if (generation !== this.generation) return false;
    const page = module.createPage();
    this.current = page;
    clear(this.container);
    try {
      await page.mount(this.container, this.ctx);
    } finally {
      if (generation === this.generation) this.container.removeAttribute("aria-busy");
    }
    return generation === this.generation;
  }

  /** Unmounts the current page (when leaving it, or the whole screen). */
  leave(): void {
    const page = this.current;
    this.current = null;
    this.currentName = null;
    if (page?.unmount) {
      try {
        page.unmount();
      } catch (e) {
        console.error("unmount failed", e);
      }
    }
    clear(this.container);
  }
}
