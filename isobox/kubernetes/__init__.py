"""Kubernetes parts: manifests (pure), pod watching, and the CodeRun operator."""
