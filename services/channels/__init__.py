"""Channels service: WhatsApp (Twilio) and Telegram webhooks and outbound sending."""
