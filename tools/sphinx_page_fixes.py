"""A Sphinx extension that keeps the built pages free of console errors.

- Sphinx 7.4 registers every inline script twice when it prepares writing (once with the
  filename None, once with ''), so sphinx-thebe's configuration declared `const THEBE_JS_URL`
  twice on every page and the browser logged "Identifier 'THEBE_JS_URL' has already been
  declared". Each page keeps each script once.
- pydata-sphinx-theme logs "Got invalid theme mode" when no default colour mode is set:
  the light mode is set explicitly.
"""


def keep_each_script_once(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(script.filename or ""), tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: later handlers append to this same list


def set_default_colour_mode(app, config):
    config.html_context.setdefault("default_mode", "light")


def setup(app):
    app.connect("config-inited", set_default_colour_mode)
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", keep_each_script_once, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
