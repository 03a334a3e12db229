"""Protean's ``protean.server.subscription``: the names a handler declaration uses live in
:mod:`archipel.server.subscription.profiles`. (Protean's subscription classes are its
engine's internals; archipel's engine is :mod:`archipel.engine`.)"""
