"""The HTTP face: thin routes over the layers below."""
