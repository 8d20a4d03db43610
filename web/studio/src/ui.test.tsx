import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { Button } from "./ui";
import { TypedDelete } from "./pages/ResourceGroups";

afterEach(cleanup);

describe("Button", () => {
  it("is disabled with its reason rather than hidden", () => {
    render(<Button reason="Readers can look but not change anything.">New</Button>);
    const b = screen.getByRole("button", { name: "New" }) as HTMLButtonElement;
    expect(b.disabled).toBe(true);
    expect(b.title).toBe("Readers can look but not change anything.");
    expect(b.dataset.reason).toMatch(/Readers/);
  });
});

describe("TypedDelete", () => {
  it("enables Delete only once the exact name is typed", () => {
    render(<TypedDelete kind="resource group" name="rg-dp100-labs" path="/x" warning="Everything in it goes." onClose={() => {}} onDone={() => {}} />);
    const del = screen.getByRole("button", { name: "Delete" }) as HTMLButtonElement;
    expect(del.disabled).toBe(true);
    const input = screen.getByLabelText("Type the resource group name to confirm");
    fireEvent.change(input, { target: { value: "rg-dp100" } });
    expect(del.disabled).toBe(true);
    fireEvent.change(input, { target: { value: "rg-dp100-labs" } });
    expect(del.disabled).toBe(false);
  });
});
