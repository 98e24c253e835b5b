"""Branch agent: camera sources, recorder, local spool, uploader and counter UI."""
