// Images the visitor picks: only real image types, shrunk in the browser to fit the API's body cap (the gateway takes
// 2 MiB of JSON per request), sent inline as base64 (the API checks the bytes again, docs/attachments.md).

export const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];
export const MAX_IMAGES = 4; // CHANNELS_IMAGES_MAX_PER_MESSAGE's default
export const MAX_BASE64_TOTAL = 1_800_000; // all of a message's images, base64, under the gateway's 2 MiB body
const KEEP_BELOW = 400_000; // smaller files go as they are
const MAX_SIDE = 1600;

export interface Picked {
  file: File;
  url: string; // an object URL of the visitor's own file, for the thumbnail
}

export interface Encoded {
  type: "image";
  data: string;
  mime_type: string;
}

function base64(blob: Blob): Promise<string> {
  return new Promise((ok, fail) => {
    const reader = new FileReader();
    reader.onload = () => ok(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => fail(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** A JPEG at most MAX_SIDE pixels on its longer side; the file itself when it is small or cannot be decoded. */
async function shrink(file: File): Promise<Blob> {
  if (file.size <= KEEP_BELOW || file.type === "image/gif" || typeof createImageBitmap !== "function") return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise<Blob | null>((ok) => canvas.toBlob(ok, "image/jpeg", 0.85));
    return blob && blob.size < file.size ? blob : file;
  } catch {
    return file;
  }
}

/** The message's attachments, or null when together they are too big to send. */
export async function encode(picked: Picked[]): Promise<Encoded[] | null> {
  const out: Encoded[] = [];
  let total = 0;
  for (const p of picked) {
    const blob = await shrink(p.file);
    const data = await base64(blob);
    total += data.length;
    if (total > MAX_BASE64_TOTAL) return null;
    out.push({ type: "image", data, mime_type: blob.type || p.file.type });
  }
  return out;
}
