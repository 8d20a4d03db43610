import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { Button, Dialog, MenuButton } from "./ui";
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

// A page with a button that opens a dialog, re-rendering (a new onClose
// each time) as pages do when their data refreshes.
function WithDialog() {
  const [open, setOpen] = useState(false);
  const [ticks, setTicks] = useState(0);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>Open</button>
      <button type="button" onClick={() => setTicks(ticks + 1)}>Tick {ticks}</button>
      {open && (
        <Dialog title="Create" onClose={() => setOpen(false)} footer={<><Button onClick={() => setOpen(false)}>Cancel</Button><Button primary>Create</Button></>}>
          <input aria-label="Name" />
          <input aria-label="Size" />
          <Button disabled>Not now</Button>
        </Dialog>
      )}
    </>
  );
}

describe("Dialog", () => {
  it("keeps Tab inside, keeps focus while the page re-renders, and gives focus back on close", () => {
    render(<WithDialog />);
    const opener = screen.getByRole("button", { name: "Open" });
    opener.focus();
    fireEvent.click(opener);
    const name = screen.getByLabelText("Name");
    expect(document.activeElement).toBe(name);
    const close = screen.getByRole("button", { name: "Close" });
    const create = screen.getByRole("button", { name: "Create" });
    // Tab on the last control goes to the first (the ✕), Shift+Tab back.
    create.focus();
    fireEvent.keyDown(create, { key: "Tab" });
    expect(document.activeElement).toBe(close);
    fireEvent.keyDown(close, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(create);
    // Focus outside the dialog comes back in at the first control.
    const size = screen.getByLabelText("Size");
    size.focus();
    fireEvent.click(screen.getByText(/Tick/)); // the page re-renders
    expect(document.activeElement).toBe(size);
    (document.activeElement as HTMLElement).blur();
    fireEvent.keyDown(document.body, { key: "Tab" });
    expect(document.activeElement).toBe(close);
    fireEvent.keyDown(document.body, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
  });
});

describe("MenuButton", () => {
  const setup = () => {
    const chosen: string[] = [];
    render(<><MenuButton label="Add files" items={["Create new file", "Create new folder", "Upload files"].map((label) => ({ label, onSelect: () => chosen.push(label) }))} /><p>Elsewhere</p></>);
    return { chosen, button: screen.getByRole("button", { name: "Add files" }) };
  };
  it("moves with the arrow keys, Home and End, and closes with Escape", () => {
    const { chosen, button } = setup();
    fireEvent.click(button);
    expect(button.getAttribute("aria-expanded")).toBe("true");
    const items = screen.getAllByRole("menuitem");
    expect(document.activeElement).toBe(items[0]);
    fireEvent.keyDown(items[0], { key: "ArrowDown" });
    expect(document.activeElement).toBe(items[1]);
    fireEvent.keyDown(items[1], { key: "ArrowUp" });
    fireEvent.keyDown(items[0], { key: "ArrowUp" });
    expect(document.activeElement).toBe(items[2]);
    fireEvent.keyDown(items[2], { key: "Home" });
    expect(document.activeElement).toBe(items[0]);
    fireEvent.keyDown(items[0], { key: "End" });
    expect(document.activeElement).toBe(items[2]);
    fireEvent.keyDown(items[2], { key: "Escape" });
    expect(screen.queryByRole("menu")).toBeNull();
    expect(document.activeElement).toBe(button);
    // ArrowDown on the button opens it; choosing gives focus back first.
    fireEvent.keyDown(button, { key: "ArrowDown" });
    fireEvent.click(screen.getByRole("menuitem", { name: "Upload files" }));
    expect(chosen).toEqual(["Upload files"]);
    expect(screen.queryByRole("menu")).toBeNull();
    expect(document.activeElement).toBe(button);
  });
  it("closes on a click outside it", () => {
    const { button } = setup();
    fireEvent.click(button);
    fireEvent.mouseDown(screen.getAllByRole("menuitem")[1]);
    expect(screen.queryByRole("menu")).not.toBeNull();
    fireEvent.mouseDown(screen.getByText("Elsewhere"));
    expect(screen.queryByRole("menu")).toBeNull();
    expect(button.getAttribute("aria-expanded")).toBe("false");
  });
});
