"""The web layer: the aiohttp app, its routes and the server, composing the service core and the publishers."""
