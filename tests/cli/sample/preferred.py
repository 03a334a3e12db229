"""Two Domains; the one called `domain` is the default."""

from archipel import Domain

domain = Domain(name="CliPreferred", config={"databases": {"default": {"provider": "memory"}}})
other = Domain(name="CliOther", config={"databases": {"default": {"provider": "memory"}}})
