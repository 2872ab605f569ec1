"""Client-facing feedback: links, kiosk, child and group forms."""
