// The widget's stylesheet, inside its shadow root: the host page's CSS cannot reach it and it cannot reach the page.

export const CSS = `
:host{--accent:#2563eb;--on-accent:#fff}
*{box-sizing:border-box}
[hidden]{display:none!important}
.sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
button{font:inherit;cursor:pointer}
.bubble{position:relative;width:56px;height:56px;border-radius:50%;border:0;background:var(--accent);color:var(--on-accent);
box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;margin-left:auto}
.bubble svg{width:28px;height:28px;fill:currentColor}
.bubble:focus-visible,.close:focus-visible,.send:focus-visible,.link:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#dc2626;color:#fff;
font-size:12px;font-weight:700;line-height:20px;text-align:center}
.panel{position:absolute;right:0;bottom:72px;width:370px;height:min(560px,calc(100vh - 110px));background:#fff;border-radius:14px;
box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}
header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--accent);color:var(--on-accent)}
header h2{flex:1;margin:0;font-size:16px;font-weight:600}
.close,.link{background:transparent;border:0;color:inherit;padding:4px 6px;border-radius:6px}
.close{font-size:22px;line-height:1}
.link{text-decoration:underline;font-size:12px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}
.msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #e3e5e8;align-self:flex-start}
.msg.user{align-self:flex-end;background:var(--accent);color:var(--on-accent);border-color:transparent}
.msg.agent{border-color:#a7c4f2}
.msg.pending{opacity:.6}
.msg a{color:inherit;text-decoration:underline}
.msg img{display:block;max-width:100%;border-radius:8px;margin-top:4px}
.who{display:block;font-size:11px;opacity:.7;margin-bottom:2px}
.typing{padding:4px 14px;font-size:12px;color:#57606a;background:#f6f7f9}
.status{padding:4px 14px;font-size:12px;color:#9a3412;background:#fff7ed}
.details{padding:8px 12px;border-bottom:1px solid #e3e5e8;display:grid;gap:6px;background:#fff}
.details label{display:grid;gap:2px;font-size:12px}
.details input{font:inherit;padding:6px 8px;border:1px solid #c9ced4;border-radius:6px}
form.composer{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e5e8;background:#fff;align-items:flex-end}
textarea{flex:1;font:inherit;resize:none;max-height:120px;min-height:38px;padding:8px 10px;border:1px solid #c9ced4;border-radius:8px;color:#1f2328;background:#fff}
textarea:focus,.details input:focus{outline:2px solid var(--accent);outline-offset:0}
.send,.save{border:0;border-radius:8px;padding:8px 14px;background:var(--accent);color:var(--on-accent);font-weight:600}
.attach{border:1px solid #c9ced4;border-radius:8px;padding:8px 9px;background:#fff;color:#57606a;line-height:0}
.attach:focus-visible,.chip button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.chips{display:flex;gap:6px;padding:6px 10px 0;background:#fff;border-top:1px solid #e3e5e8}
.chip{position:relative}
.chip img{width:52px;height:52px;object-fit:cover;border-radius:6px;display:block}
.chip button{position:absolute;top:-6px;right:-6px;width:20px;height:20px;border-radius:50%;border:0;background:#1f2328;color:#fff;font-size:13px;line-height:20px;padding:0}
@media (max-width:480px){
.panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}
:host(.open) .bubble{display:none}
}
@media (prefers-reduced-motion:no-preference){.panel{animation:rise .15s ease-out}@keyframes rise{from{opacity:0;transform:translateY(8px)}}}
`;
