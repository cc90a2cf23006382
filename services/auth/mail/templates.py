"""The texts of auth's mails, in English and Brazilian Portuguese (a tenant's locale picks; en otherwise)."""

from __future__ import annotations

from dataclasses import dataclass

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "verify": (
            "Confirm your email address",
            "Someone (hopefully you) signed up to Atende with this address.\n"
            "To confirm it is yours, use this one-time code within {hours} hours:\n\n{token_block}\n"
            "If it was not you, ignore this mail: the account stays unconfirmed.",
        ),
        "signup_attempt": (
            "Someone tried to sign up with your address",
            "Someone tried to create a new Atende account with {email}, which already has one.\n"
            "Nothing was changed. If it was you, log in with your password instead.\n"
            "If it was not you, you can ignore this mail.",
        ),
        "added": (
            "You were added to {tenant}",
            "Your Atende account {email} was added to {tenant} as {role}. Log in as usual to reach it.",
        ),
        "added_verify": (
            "You were added to {tenant}",
            "An administrator of {tenant} created an Atende account for {email} ({role}) and will tell you its\n"
            "password. To confirm this address is yours, use this one-time code within {hours} hours:\n\n"
            "{token_block}",
        ),
        "invite": (
            "Invitation to {tenant}",
            "An administrator of {tenant} invited {email} to Atende as {role}.\n"
            "To accept, choose your password with this one-time code within {hours} hours:\n\n{token_block}\n"
            "If you do not expect this invitation, ignore this mail.",
        ),
    },
    "pt-BR": {
        "verify": (
            "Confirme seu endereço de e-mail",
            "Alguém (esperamos que você) se cadastrou no Atende com este endereço.\n"
            "Para confirmar que é seu, use este código de uso único em até {hours} horas:\n\n{token_block}\n"
            "Se não foi você, ignore este e-mail: a conta continua não confirmada.",
        ),
        "signup_attempt": (
            "Alguém tentou se cadastrar com seu endereço",
            "Alguém tentou criar uma nova conta no Atende com {email}, que já tem uma.\n"
            "Nada foi alterado. Se foi você, entre com sua senha.\nSe não foi você, ignore este e-mail.",
        ),
        "added": (
            "Você foi adicionado a {tenant}",
            "Sua conta do Atende {email} foi adicionada a {tenant} como {role}. Entre normalmente para acessá-la.",
        ),
        "added_verify": (
            "Você foi adicionado a {tenant}",
            "Um administrador de {tenant} criou uma conta no Atende para {email} ({role}) e vai lhe passar a\n"
            "senha. Para confirmar que este endereço é seu, use este código de uso único em até {hours} horas:\n\n"
            "{token_block}",
        ),
        "invite": (
            "Convite para {tenant}",
            "Um administrador de {tenant} convidou {email} para o Atende como {role}.\n"
            "Para aceitar, escolha sua senha com este código de uso único em até {hours} horas:\n\n{token_block}\n"
            "Se você não esperava este convite, ignore este e-mail.",
        ),
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


def render(kind: str, locale: str | None, *, token: str = "", link_base: str = "", **values: str) -> Rendered:
    """Subject and plain-text body; a token is shown on its own `Token:` line, plus a console link when known."""
    texts = TEXTS.get(locale or "en") or TEXTS["en"]
    subject, body = texts[kind]
    block = ""
    if token:
        block = f"Token: {token}\n"
        if link_base:
            block += f"\n{link_base.rstrip('/')}/admin/verify-email?token={token}\n"
    return Rendered(subject.format(**values), body.format(token_block=block, **values) + "\n\n-- Atende\n")
