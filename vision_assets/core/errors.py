"""The one error type a user can act on: bad input, a missing or broken record, a refused file.

Commands print it as one line (`vision-assets: error: <message>`, exit 2); its message names the object and the
problem, so no traceback is needed to understand it.
"""


class VisionError(Exception):
    """A problem with the user's input or the data folder, explained in the message."""
