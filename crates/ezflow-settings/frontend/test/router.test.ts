import { describe, expect, it, vi } from "vitest";
import type { Answer, Bridge } from "../src/bridge";
import type { Context, PageModule } from "../src/context";
import { Dispatcher } from "../src/events";
import { isPageName, Router } from "../src/router";

function fakeBridge(): Bridge {
  return {
    request: async () => ({ ok: true }) as Answer,
    connect: async () => ({}),
    startApp: async () => "",
    onEvent: async () => () => undefined,
    firstPaint: () => undefined,
  };
}

function page(name: string, log: string[]): PageModule {
  return {
    createPage: () => ({
      mount(root) {
        log.push(`mount ${name}`);
        root.textContent = name;
      },
      unmount() {
        log.push(`unmount ${name}`);
      },
    }),
  };
}

function setup(loaders: Record<string, () => Promise<PageModule>>) {
  const nav = document.createElement("nav");
  for (const p of ["general", "models", "privacy", "performance"]) {
    const b = document.createElement("button");
    b.dataset.page = p;
    nav.appendChild(b);
  }
  const container = document.createElement("main");
  const ctx: Context = { bridge: fakeBridge(), events: new Dispatcher() };
  return { nav, container, router: new Router(container, nav, loaders, ctx) };
}

describe("page routing", () => {
  it("shows one page, marks it, and unmounts the one it leaves", async () => {
    const log: string[] = [];
    const { nav, container, router } = setup({
      general: async () => page("general", log),
      models: async () => page("models", log),
    });
    expect(await router.go("general")).toBe(true);
    expect(container.dataset.currentPage).toBe("general");
    expect(container.textContent).toBe("general");
    expect(nav.querySelector('[data-page="general"]')?.getAttribute("aria-current")).toBe("page");
    await router.go("models");
    expect(container.dataset.currentPage).toBe("models");
    expect(nav.querySelector('[data-page="general"]')?.hasAttribute("aria-current")).toBe(false);
    expect(nav.querySelector('[data-page="models"]')?.getAttribute("aria-current")).toBe("page");
    expect(log).toEqual(["mount general", "unmount general", "mount models"]);
    expect(router.page).toBe("models");
  });
  it("refuses unknown pages", async () => {
    const { router, container } = setup({ general: async () => page("general", []) });
    expect(await router.go("nope")).toBe(false);
    expect(container.dataset.currentPage).toBeUndefined();
    expect(isPageName("privacy")).toBe(true);
    expect(isPageName("setup")).toBe(false);
  });
  it("drops a slow page that was overtaken by another navigation", async () => {
    const log: string[] = [];
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => (release = r));
    const { router, container } = setup({
      models: async () => {
        await slow;
        return page("models", log);
      },
      privacy: async () => page("privacy", log),
    });
    const first = router.go("models");
    await router.go("privacy");
    release();
    expect(await first).toBe(false);
    expect(container.dataset.currentPage).toBe("privacy");
    expect(log).toEqual(["mount privacy"]);
  });
  it("loads a lazy page only when it is first shown", async () => {
    const loader = vi.fn(async () => page("performance", []));
    const { router } = setup({ performance: loader });
    expect(loader).not.toHaveBeenCalled();
    await router.go("performance");
    expect(loader).toHaveBeenCalledTimes(1);
  });
});
