"""Email providers (``[email_providers.<name>] provider = "dummy"``)."""
