// Browser checks of issue 27's screens (group "screens", admin/e2e/run.mjs): my conversations with rename / delete /
// restore, the inbox's sector chips, a customer's whole history across channels, a superuser switching company (an
// inactive one too, with its banner),
// the pt-BR console, and signing up + confirming the address from the mail the test SMTP server received
// (MAIL_STANDIN/_mail?to=), a password change and the superuser's users screen. Signed in as the admin (the
// platform superuser) at the start and again at the end.

export default async function screens(h) {
  const { page, check, until, assert, apiCall, shot, nav, env, BASE, RUN } = h;
  const tag = `${RUN}`;
  const acceptDialogs = (dialog) => void dialog.accept();
  page.on("dialog", acceptDialogs);
  const me = (await apiCall("GET", "/api/v1/auth/me")).body;
  const home = me.tenant_id;
  // A Telegram customer first: the stream workers (nice 19) get the other checks' time to bring it to chat.
  const chat = 700_000_000 + RUN;
  const channel = await h.telegramChannel("E2E contacts");
  await h.telegramUpdate(channel.id, channel.secret, chat, `Oi, quero saber do meu pedido ${tag}`, 9101);

  await check("my conversations: rename, delete, restore", async () => {
    const made = await apiCall("POST", "/api/v1/threads", { title: `E2E mine ${tag}` });
    assert(made.status === 201, `thread created (HTTP ${made.status})`);
    await nav("My conversations").click();
    await page.getByRole("heading", { name: "My conversations" }).waitFor();
    const row = (title) => page.locator(".threads li").filter({ hasText: title });
    await row(`E2E mine ${tag}`).getByRole("link").click();
    await page.getByRole("button", { name: "Rename" }).click();
    await page.getByLabel("Conversation title").fill(`E2E renamed ${tag}`);
    await page.getByRole("button", { name: "Save" }).click();
    await page.locator(".thread-head h3").filter({ hasText: `E2E renamed ${tag}` }).waitFor();
    await row(`E2E renamed ${tag}`).waitFor();
    await shot("my-conversations");
    await page.locator(".thread-head").getByRole("button", { name: "Delete" }).click();
    await page.locator(".thread-head").getByRole("button", { name: "Restore" }).waitFor();
    await until(async () => (await row(`E2E renamed ${tag}`).count()) === 0, "the deleted thread leaves the list");
    const gone = await apiCall("GET", `/api/v1/threads/${made.body.id}`);
    assert(gone.status === 404, `deleted through the API too (HTTP ${gone.status})`);
    await page.getByRole("checkbox", { name: "Show deleted" }).check();
    await row(`E2E renamed ${tag}`).locator(".badge", { hasText: "deleted" }).waitFor();
    await shot("my-conversations-deleted");
    await page.locator(".thread-head").getByRole("button", { name: "Restore" }).click();
    await page.locator(".thread-head").getByRole("button", { name: "Rename" }).waitFor();
    const back = await apiCall("GET", `/api/v1/threads/${made.body.id}`);
    assert(back.status === 200 && back.body.title === `E2E renamed ${tag}` && !back.body.deleted_at, "restored");
    await page.getByRole("checkbox", { name: "Show deleted" }).uncheck();
  });

  await check("inbox sector chips with per-sector counts", async () => {
    // The tenant's own sectors (the demo seed has some); two of them, set when there are none.
    let sectors = (await apiCall("GET", `/api/v1/tenants/${home}`)).body.sectors ?? [];
    if (sectors.length < 2) {
      sectors = ["vendas", "suporte"];
      const patch = await apiCall("PATCH", `/api/v1/tenants/${home}`, { sectors });
      assert(patch.status === 200, `sectors saved (HTTP ${patch.status})`);
    }
    const [first, second] = sectors;
    for (const [title, sector] of [["A", first], ["B", first], ["C", second]]) {
      const r = await apiCall("POST", "/api/v1/threads", { title: `E2E ${sector} ${title} ${tag}`, sector });
      assert(r.status === 201, `thread in ${sector} (HTTP ${r.status}: ${JSON.stringify(r.body)})`);
    }
    const counts = (await apiCall("GET", "/api/v1/threads/counts")).body.items;
    const count = (s) => counts.find((c) => c.sector === s)?.count ?? 0;
    await page.goto(`${BASE}/admin/inbox`);
    await page.getByRole("heading", { name: "Inbox" }).waitFor();
    for (const s of [first, second]) {
      const chip = page.locator(`.chip[data-sector="${s}"]`);
      await chip.waitFor();
      const shown = Number((await chip.locator(".count").innerText()).replace(/\D/g, ""));
      assert(shown === count(s) && shown >= (s === first ? 2 : 1), `${s}: chip ${shown}, API ${count(s)}`);
    }
    await page.locator(`.chip[data-sector="${second}"]`).click();
    await until(async () => {
      const sectorsShown = await page.locator(".threads li").evaluateAll((lis) => lis.map((li) => li.querySelector(".badge.sector")?.textContent ?? ""));
      return sectorsShown.length > 0 && sectorsShown.every((x) => x === second);
    }, `only ${second} threads listed`);
    await shot("inbox-sectors");
    await page.locator('.chip[data-sector=""]').click();
  });

  await check("contacts: a customer's history across threads and channels", async () => {
    const contact = await until(async () => {
      const list = await apiCall("GET", "/api/v1/contacts?limit=200");
      return list.body.items.find((c) => c.external_id === String(chat));
    }, "the Telegram customer is a contact", 120_000); // the workers run at nice 19: slow on a loaded machine
    const api = await apiCall("POST", "/api/v1/threads", {
      contact_id: contact.id,
      title: `E2E follow-up by phone ${tag}`,
      message: `Ligação: cliente pediu troca ${tag}`,
    });
    assert(api.status === 201, `a second thread on the same customer (HTTP ${api.status})`);
    await nav("Contacts").click();
    await page.getByRole("heading", { name: "Contacts" }).waitFor();
    await page.getByLabel("Search contacts").fill("Maria");
    await page.locator(`a[href="/admin/contacts/${contact.id}"]`).click();
    await page.getByRole("heading", { name: "Whole history" }).waitFor();
    const history = page.getByLabel("Whole history");
    // The customer's own words from both conversations (the stand-in AI's answers quote them too).
    const said = history.locator('.bubble[data-role="user"]');
    await said.filter({ hasText: `Oi, quero saber do meu pedido ${tag}` }).waitFor();
    await said.filter({ hasText: `Ligação: cliente pediu troca ${tag}` }).waitFor();
    // One divider per conversation, naming it and its channel once the conversations are read (a contact is one
    // address on one channel: the API thread opened on it is a conversation on that channel too).
    const dividers = await until(async () => {
      const d = await history.locator(".thread-divider").allInnerTexts();
      const named = d.length === 2 && d.every((x) => x.includes(contact.channel)) && d.some((x) => x.includes(`E2E follow-up by phone ${tag}`));
      return named ? d : null;
    }, "two conversations, each with its channel, in the history");
    assert(dividers.length === 2, `two conversations: ${dividers}`);
    await shot("contact-history");
  });

  await check("superuser switches to any company (not a member) and back", async () => {
    const name = `E2E Company ${tag}`;
    const made = await apiCall("POST", "/api/v1/tenants", { name, slug: `e2e-company-${tag}` });
    assert(made.status === 201, `company created (HTTP ${made.status}: ${JSON.stringify(made.body)})`);
    const other = made.body.id;
    assert(!me.memberships.some((m) => m.tenant_id === other), "the superuser is not a member of it");
    // A conversation of that company, through a token switched into it.
    const switched = await apiCall("POST", "/api/v1/auth/switch-tenant", { tenant_id: other });
    assert(switched.status === 200, `switch-tenant (HTTP ${switched.status})`);
    const inOther = { Authorization: `Bearer ${switched.body.access_token}` };
    const th = await fetch(`${BASE}/api/v1/threads`, {
      method: "POST",
      headers: { ...inOther, "Content-Type": "application/json" },
      body: JSON.stringify({ title: `Only in ${name}` }),
    });
    assert(th.status === 201, `thread in the other company (HTTP ${th.status})`);
    await page.goto(`${BASE}/admin/`);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    const picker = page.getByLabel("Company");
    await until(async () => (await picker.locator(`option[value="${other}"]`).count()) === 1, "the company is listed");
    await picker.selectOption(other);
    await until(async () => (await page.evaluate(() => JSON.parse(localStorage.getItem("atende.session")).tenant_id)) === other, "the session is in the other company");
    await page.locator(".stats .stat").first().waitFor();
    await shot("company-switched-dashboard");
    await nav("Inbox").click();
    await page.locator(".threads li").filter({ hasText: `Only in ${name}` }).waitFor();
    await shot("company-switched-inbox");
    await nav("Buffers").click();
    await page.getByRole("heading", { name: "Live buffers" }).waitFor();
    await nav("Logs").click();
    await page.getByRole("heading", { name: "Logs" }).waitFor();
    await page.getByLabel("Logs of company").selectOption(other);
    await page.locator(".state.loading").waitFor({ state: "detached" });
    await shot("logs-by-company");
    // Made inactive, the company stays open to the superuser (its members are locked out): a banner says why its AI is quiet.
    const paused = await apiCall("PATCH", `/api/v1/tenants/${other}`, { status: "inactive" });
    assert(paused.status === 200, `company made inactive (HTTP ${paused.status})`);
    await page.reload();
    await nav("Inbox").click();
    await page.locator(".threads li").filter({ hasText: `Only in ${name}` }).waitFor();
    await page.locator(".inactive-banner").filter({ hasText: "inactive: AI answers paused" }).waitFor();
    const option = await page.getByLabel("Company").locator(`option[value="${other}"]`).textContent();
    assert(option.includes("(inactive)"), `the picker marks it inactive: ${option}`);
    await shot("company-inactive-inbox");
    const resumed = await apiCall("PATCH", `/api/v1/tenants/${other}`, { status: "active" });
    assert(resumed.status === 200, `company active again (HTTP ${resumed.status})`);
    // The platform dashboard counts the active companies (as the API says).
    await nav("Dashboard").click();
    await page.getByRole("checkbox", { name: "All tenants" }).check();
    const metrics = await apiCall("GET", "/api/v1/metrics?all=true");
    const stat = page.locator(".stat").filter({ hasText: "Active companies" });
    await until(async () => (await stat.locator(".value").innerText()).trim() === String(metrics.body.active_tenants), "active companies shown");
    await shot("platform-dashboard");
    await page.getByLabel("Company").first().selectOption(home);
    await until(async () => (await page.evaluate(() => JSON.parse(localStorage.getItem("atende.session")).tenant_id)) === home, "back home");
  });

  await check("pt-BR console: key screens in Portuguese", async () => {
    await page.goto(`${BASE}/admin/`);
    await page.getByLabel("Language").selectOption("pt-BR");
    const screens = [
      ["Caixa de entrada", "Caixa de entrada"],
      ["Minhas conversas", "Minhas conversas"],
      ["Contatos", "Contatos"],
      ["Usuários", "Usuários"],
    ];
    for (const [link, heading] of screens) {
      const item = page.locator("nav.sidenav").getByRole("link", { name: link, exact: true });
      if (!(await item.count())) continue; // a screen another group renamed: the rest still count
      await item.click();
      if (heading) await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      await page.locator(".state.loading").waitFor({ state: "detached" });
      await shot(`pt-BR-${link.replace(/\W+/g, "-")}`);
    }
    await page.locator("header").getByRole("link", { name: me.email }).click();
    await page.getByRole("heading", { name: "Minha conta" }).waitFor();
    await page.getByRole("heading", { name: "Alterar senha" }).waitFor();
    await shot("pt-BR-account");
    await page.getByLabel("Idioma").selectOption("en");
    await page.getByRole("heading", { name: "My account" }).waitFor();
  });

  await check("sign up, confirm the address from the mail, change password; superuser deactivates", async () => {
    const email = `signup-${tag}@admin-e2e.example.com`;
    const password = `E2e-first-password-${tag}`;
    const newPassword = `E2e-second-password-${tag}`;
    await page.locator("header").getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/admin\/login$/);
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.getByLabel("Full name").fill("Sofia Signup");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByLabel("Company name").fill(`Sofia's shop ${tag}`);
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.getByText(`we sent a confirmation code to ${email}`).waitFor();
    await shot("signup-sent");
    const mails = await until(async () => {
      const r = await fetch(`${env("MAIL_STANDIN")}/_mail?to=${encodeURIComponent(email)}`);
      const list = await r.json();
      return list.length ? list : null;
    }, "the verification mail reached the SMTP server", 120_000); // sent by auth's worker (nice 19)
    const link = /(https?:\/\/\S+\/admin\/verify-email\?token=\S+)/.exec(mails[0].body)?.[1];
    assert(link && link.startsWith(BASE), `the mail links to the console: ${mails[0].body.slice(0, 400)}`);
    await page.goto(link);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByText("Your email address is confirmed.").waitFor();
    await shot("email-confirmed");
    await page.goto(`${BASE}/admin/login`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.locator("header").getByRole("link", { name: email }).click();
    await page.locator(".badge", { hasText: "email confirmed" }).waitFor();
    await page.getByLabel("Current password").fill(password);
    await page.getByLabel("New password", { exact: true }).fill(newPassword);
    await page.getByLabel("Repeat the new password").fill(newPassword);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed.", { exact: false }).waitFor();
    await shot("password-changed");
    const login = (pw) =>
      fetch(`${BASE}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password: pw }) });
    assert((await login(password)).status === 401, "the old password no longer works");
    assert((await login(newPassword)).status === 200, "the new one does");

    // Back as the superuser: the users screen deactivates the new account, then activates it again.
    await page.locator("header").getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/admin\/login$/);
    await page.getByLabel("Email").fill(env("ADMIN_EMAIL"));
    await page.getByLabel("Password").fill(env("ADMIN_PASSWORD"));
    await page.getByRole("button", { name: "Log in" }).click();
    await nav("Users").click(); // the login returns to the page the logout left (My account)
    await page.getByLabel("Search users").fill(email);
    const row = page.locator(`tr[data-email="${email}"]`);
    await row.getByRole("button", { name: "Deactivate" }).click();
    await row.locator(".badge", { hasText: "inactive" }).waitFor();
    await shot("users-deactivated");
    assert((await login(newPassword)).status !== 200, "a deactivated account cannot log in");
    await row.getByRole("button", { name: "Activate" }).click();
    await row.locator(".badge", { hasText: /^active$/ }).waitFor();
    await until(async () => (await login(newPassword)).status === 200, "active again: it logs in");
  });

  page.off("dialog", acceptDialogs);
}
