"""Slide uploads: resumable (tus 1.0) and plain streamed, both ending in `app.slides.ingest`."""
