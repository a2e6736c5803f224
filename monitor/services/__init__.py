"""Service functions: take a session, return data; shared by web, API, CLI and jobs."""
