"""Two Domains and neither is called `domain`: --domain must say which (module:attr)."""

from archipel import Domain

first = Domain(name="CliFirst", config={"databases": {"default": {"provider": "memory"}}})
second = Domain(name="CliSecond", config={"databases": {"default": {"provider": "memory"}}})
