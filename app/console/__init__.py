"""The AM console, in Streamlit: the human loop's home.

``main.py`` is the script Streamlit runs (``twoloop console``); ``auth.py`` says
who is signed in; ``session.py`` holds the store and the reads cached by data
version; ``text.py`` shows untrusted text as text; ``screens/`` has one module per
page. Pages only lay out what ``app.queue``, ``app.why``, the human-loop and
decisions APIs and ``app.analysis`` return: no query or rule lives in a page.
"""
