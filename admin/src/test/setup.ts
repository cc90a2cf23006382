import "@testing-library/jest-dom/vitest";
import { afterEach, vi } from "vitest";
import { cleanup } from "@testing-library/react";
import { setTokens } from "../api/client";

afterEach(() => {
  cleanup();
  setTokens(null);
  localStorage.clear();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});
