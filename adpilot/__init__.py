"""The platform as one command: ``adpilot up``, ``serve``, ``migrate``, ``keys`` and the rest."""
