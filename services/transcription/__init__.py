"""Transcription service: Audio transcription jobs with progress and exports."""
