"""A Domain whose configuration names a provider nobody implements."""

from archipel import Domain

domain = Domain(name="CliBadConfig", config={"databases": {"default": {"provider": "no-such-db"}}})
