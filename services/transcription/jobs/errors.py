"""Domain errors of transcription jobs (mapped to problem+json by shared/errors.py)."""

from shared.errors import BadRequest, NotFound, PayloadTooLarge, ServiceUnavailable, Unprocessable, UnsupportedMediaType


class JobNotFound(NotFound):
    code = "transcription_not_found"


class NotAudio(UnsupportedMediaType):
    code = "unsupported_audio"


class AudioTooLarge(PayloadTooLarge):
    code = "audio_too_large"


class AudioTooLong(PayloadTooLarge):
    code = "audio_too_long"


class BadUpload(BadRequest):
    code = "bad_upload"


class WebhookURLRefused(Unprocessable):
    code = "webhook_url_refused"


class WebhookSecretMissing(Unprocessable):
    code = "webhook_secret_missing"


class TenantSettingsUnavailable(ServiceUnavailable):
    code = "tenant_settings_unavailable"


class JobNotReady(BadRequest):
    status, code, title = 409, "transcription_not_ready", "Conflict"
