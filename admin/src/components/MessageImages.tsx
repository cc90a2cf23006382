// A message's images in the inbox: each loaded once with the session's token (authFetch -> blob URL, so no token
// ever goes in a URL), shown as a thumbnail that opens the full image in a new tab. Bytes come from
// GET /api/v1/messages/{id}/attachments/{n}, served with their verified type and nosniff (docs/attachments.md).
import { useEffect, useState } from "react";
import { authFetch, type Schemas } from "../api/client";
import { useI18n } from "../i18n";

type Attachment = Schemas["AttachmentRead"];

function Thumbnail({ attachment }: { attachment: Attachment }) {
  const { t, fmtNumber } = useI18n();
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let url: string | null = null;
    let gone = false;
    void (async () => {
      try {
        const resp = await authFetch(attachment.url);
        if (!resp.ok) throw new Error(String(resp.status));
        const blob = await resp.blob();
        if (gone) return;
        url = URL.createObjectURL(blob);
        setSrc(url);
      } catch {
        if (!gone) setFailed(true);
      }
    })();
    return () => {
      gone = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [attachment.url]);
  const label = t("Image {n} ({kb} KB)", { n: attachment.position + 1, kb: fmtNumber(attachment.size / 1024, 1) });
  if (failed) return <span className="badge">{t("image unavailable")}</span>;
  if (!src) return <span className="thumb loading" aria-label={label} aria-busy="true" />;
  return (
    <a className="thumb" href={src} target="_blank" rel="noopener noreferrer" title={t("Open the full image")}>
      <img src={src} alt={label} />
    </a>
  );
}

export function MessageImages({ attachments }: { attachments?: Attachment[] }) {
  if (!attachments?.length) return null;
  return (
    <div className="images">
      {attachments.map((a) => (
        <Thumbnail key={a.url} attachment={a} />
      ))}
    </div>
  );
}
