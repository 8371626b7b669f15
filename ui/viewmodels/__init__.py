"""View-models: the journey and its rules in plain Python, driven by tests without a window.

Screens bind to these and nothing else; a view-model calls the agent through
:class:`AgentPort` (the local API client in the app) and tells its listeners
when something they show has changed.
"""
