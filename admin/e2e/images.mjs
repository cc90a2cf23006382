// Browser checks of images on messages (docs/attachments.md): a message sent with an image through the API shows
// in the inbox as a thumbnail that really decodes under the console's CSP (fetched with the session's token into a
// blob URL), and the assistant form's vision toggle saves. Registered in run.mjs as group `images`; `h` holds
// run.mjs's shared helpers.

// A 24x16 orange PNG (real bytes: the API checks them).
const PNG_B64 =
  "iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAHElEQVR4nGN8FiXCQA3ARBVTRg0aNWjUoBFsEABbVAF0wi0B4gAAAABJRU5ErkJggg==";

export default async function images(h) {
  const { page, check, until, assert, apiCall, shot, BASE } = h;

  await check("inbox shows a message's image as a thumbnail", async () => {
    const created = await apiCall("POST", "/api/v1/threads", {
      title: `E2E photo ${Date.now()}`,
      message: "Is my pizza supposed to look like this?",
      attachments: [{ type: "image", data: PNG_B64, mime_type: "image/png" }],
    });
    assert(created.status === 201, `thread with an image (HTTP ${created.status}: ${JSON.stringify(created.body)})`);
    const attachments = created.body.user_message.attachments;
    assert(attachments.length === 1 && attachments[0].mime_type === "image/png", "the attachment is listed");
    await page.goto(`${BASE}/admin/inbox/${created.body.id}`);
    const img = page.locator('.bubble[data-role="user"] .thumb img');
    await img.waitFor();
    const size = await img.evaluate(async (el) => {
      await el.decode(); // rejects if the CSP or the bytes stop the image
      return { w: el.naturalWidth, h: el.naturalHeight, src: el.getAttribute("src") };
    });
    assert(size.w === 24 && size.h === 16, `decoded at its real size (${size.w}x${size.h})`);
    assert(size.src.startsWith("blob:"), `loaded as a blob, no token in a URL (${size.src.slice(0, 20)})`);
    await shot("inbox-image");
  });

  await check("assistant vision toggle saves", async () => {
    const made = await apiCall("POST", "/api/v1/assistants", { name: `E2E Eyes ${Date.now()}`, instructions: "", use_knowledge: false, is_default: false, vision: false });
    assert(made.status === 201, `assistant created (HTTP ${made.status})`);
    await page.goto(`${BASE}/admin/assistants/${made.body.id}`);
    const toggle = page.getByRole("checkbox", { name: /Vision/ });
    await toggle.check();
    const [patched] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/v1/assistants/${made.body.id}`) && r.request().method() === "PATCH"),
      page.getByRole("button", { name: "Save" }).click(),
    ]);
    assert(patched.status() === 200 && (await patched.json()).vision === true, `PATCH saved vision (HTTP ${patched.status()})`);
    await until(async () => (await apiCall("GET", `/api/v1/assistants/${made.body.id}`)).body.vision === true, "vision saved");
    await page.reload();
    await page.getByRole("checkbox", { name: /Vision/ }).waitFor();
    assert(await page.getByRole("checkbox", { name: /Vision/ }).isChecked(), "the saved toggle shows after a reload");
    await shot("assistant-vision");
  });
}
