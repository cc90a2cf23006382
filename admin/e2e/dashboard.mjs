// The dashboard's charts in Chromium: a tenant with one day of conversations, one with thirty days (pt-BR locale)
// and one with none. The tenants are seeded by tests/e2e/test_admin_browser.py (E2E_DASHBOARD_TENANTS).

/** Make `tenantId` the session's tenant (as the company switcher does), then open the dashboard. */
async function openDashboard(h, tenantId) {
  const { page, BASE } = h;
  await page.evaluate(async (id) => {
    const session = JSON.parse(localStorage.getItem("atende.session"));
    const resp = await fetch("/api/v1/auth/switch-tenant", {
      method: "POST",
      headers: { Authorization: `Bearer ${session.access_token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ tenant_id: id }),
    });
    if (!resp.ok) throw new Error(`switch-tenant: HTTP ${resp.status}`);
    const pair = await resp.json();
    const tokens = { access_token: pair.access_token, refresh_token: pair.refresh_token, expires_at: Date.now() + pair.expires_in * 1000, tenant_id: pair.tenant_id, role: pair.role };
    localStorage.setItem("atende.session", JSON.stringify(tokens));
  }, tenantId);
  await page.goto(`${BASE}/admin/`);
  await page.getByRole("heading", { name: "Dashboard", exact: true }).waitFor();
  await page.locator(".stats .stat").first().waitFor();
}

/** What a reader sees on one chart: its width, the drawn bars, the x-axis labels, the line's dots. */
function chart(h, name) {
  return h.page.evaluate((name) => {
    const fig = document.querySelector(`figure[data-chart="${name}"]`);
    if (!fig) return null;
    const surface = fig.querySelector(".recharts-wrapper"); // (legend icons are svg.recharts-surface too)
    const bars = [...fig.querySelectorAll(".recharts-bar-rectangle path")]
      .map((p) => p.getBoundingClientRect())
      .filter((r) => r.height > 0.5)
      .map((r) => ({ x: r.x + r.width / 2, y: r.y + r.height / 2, width: r.width, height: r.height }));
    const labels = (axis) => [...fig.querySelectorAll(`.recharts-${axis}-tick-labels .recharts-cartesian-axis-tick-value`)].map((t) => t.textContent.trim());
    const ticks = labels("xAxis");
    const yTicks = labels("yAxis");
    const dots = fig.querySelectorAll(".recharts-line-dots circle, .recharts-line-dot").length;
    return { width: surface?.getBoundingClientRect().width ?? 0, bars, ticks, yTicks, dots };
  }, name);
}

async function tooltipFor(h, bar) {
  await h.page.mouse.move(bar.x, bar.y);
  const tip = h.page.locator('figure[data-chart="messages"] .recharts-tooltip-wrapper');
  await h.until(async () => ((await tip.innerText().catch(() => "")) || "").trim().length > 0, "the tooltip shows", 10_000, 100);
  return (await tip.innerText()).trim();
}

export default async function dashboard(h) {
  const { check, until, assert, shot, env, page } = h;
  const tenants = JSON.parse(env("E2E_DASHBOARD_TENANTS", "{}"));
  const home = await page.evaluate(() => JSON.parse(localStorage.getItem("atende.session")).tenant_id);

  await check("dashboard with one day of data: one bar among the days, axes, tooltip", async () => {
    assert(tenants.one, "the one-day tenant was seeded");
    await openDashboard(h, tenants.one);
    const messages = await until(async () => {
      const c = await chart(h, "messages");
      return c && c.bars.length > 0 && c.ticks.length > 0 ? c : null;
    }, "the messages chart is drawn");
    assert(messages.bars.length === 1, `one day with messages is one bar (${messages.bars.length})`);
    assert(messages.bars[0].width < messages.width / 10, `the bar is a bar, not a block (${messages.bars[0].width} of ${messages.width} px)`);
    assert(messages.ticks.length >= 3 && messages.ticks.every((t) => /[A-Za-z]{3}/.test(t) && /\d/.test(t)), `dated x axis: ${messages.ticks}`);
    assert(messages.yTicks.length >= 2, `a y axis with values: ${messages.yTicks}`);
    const tip = await tooltipFor(h, messages.bars[0]);
    assert(/messages/.test(tip) && /\d{4}/.test(tip), `the tooltip names the day and the counts: ${tip}`);
    const answers = await chart(h, "answers");
    assert(answers && answers.bars.length >= 2, `AI and human answers of the day are stacked bars (${answers?.bars.length})`);
    const first = await chart(h, "first-response");
    assert(first && first.dots >= 1, "the first-response chart has the day's point");
    await shot("dashboard-one-day");
  });

  await check("dashboard with thirty days of data: a bar per day, pt-BR dates, first response and AI vs human", async () => {
    assert(tenants.thirty, "the thirty-day tenant was seeded");
    await openDashboard(h, tenants.thirty);
    const messages = await until(async () => {
      const c = await chart(h, "messages");
      return c && c.bars.length >= 29 ? c : null;
    }, "thirty days of bars");
    assert(messages.bars.length <= 30, `at most a bar per day (${messages.bars.length})`);
    const months = /(jan|fev|mar|abr|mai|jun|jul|ago|set|out|nov|dez)/i;
    assert(messages.ticks.length >= 4 && messages.ticks.every((t) => months.test(t)), `dates in the tenant's pt-BR locale: ${messages.ticks}`);
    const tip = await tooltipFor(h, messages.bars[Math.floor(messages.bars.length / 2)]);
    assert(/(domingo|segunda|terça|quarta|quinta|sexta|sábado).* de \d{4}/.test(tip), `a pt-BR date in the tooltip: ${tip}`);
    const answers = await chart(h, "answers");
    assert(answers && answers.bars.length >= 38, `AI answers every day and human answers every third day (${answers?.bars.length} bars)`);
    const first = await chart(h, "first-response");
    assert(first && first.dots >= 29, `a first-response point per day (${first?.dots})`);
    assert(first.yTicks.some((t) => /s$/.test(t)), `seconds on the y axis: ${first.yTicks}`);
    await shot("dashboard-thirty-days");
  });

  await check("dashboard without data says so", async () => {
    assert(tenants.empty, "the empty tenant was seeded");
    await openDashboard(h, tenants.empty);
    await page.getByText("No activity in this period.").waitFor();
    assert((await page.locator("figure[data-chart]").count()) === 0, "no empty chart frames");
    await shot("dashboard-empty");
  });

  await openDashboard(h, home); // the next groups run on the admin's own tenant again
}
