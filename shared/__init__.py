"""Infrastructure every service uses: settings, db, errors, events, auth, logging."""
