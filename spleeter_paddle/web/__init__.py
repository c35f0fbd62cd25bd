"""The local web page (optional extra ``web``): drop songs, listen to and download their stems.

``spleeter-paddle serve`` runs :func:`spleeter_paddle.web.app.create_app` with uvicorn.
"""
