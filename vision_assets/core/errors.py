"""The one error family a user can act on: bad input, a missing or broken record, a refused file.

Commands print it as one line (`vision-assets: error: <object>: <problem>`, exit 2); its message names the object
and the problem, so no traceback is needed to understand it. `ValueError` and friends on their own stay for
programming errors (a caller breaking a function's contract): those exit 1 with "unexpected".
"""


class VisionError(Exception):
    """A problem with the user's input or the data folder, explained in the message.

    Raise it either with the whole message (`VisionError("clip.mp4: no video stream")`) or with its parts
    (`VisionError(object="clip.mp4", problem="no video stream")`); `object` and `problem` are read back either way
    (the part before the first ": " is the object)."""

    def __init__(self, *args, object: str | None = None, problem: str | None = None):  # noqa: A002
        if object is not None or problem is not None:
            args = (f"{object}: {problem}" if object is not None else str(problem), *args)
        super().__init__(*args)
        head, sep, tail = str(self).partition(": ")
        self.object = object if object is not None else (head if sep else "")
        self.problem = problem if problem is not None else (tail if sep else head)


# The two general kinds, for places without a more specific class of their own. Each is a ValueError too, so code
# that caught the bare ValueError it replaced still catches it.


class InvalidInput(VisionError, ValueError):
    """A file, video or table the user gave (or the data folder holds) does not hold what it must."""


class InvalidOption(VisionError, ValueError):
    """A value the user chose (a setting, an option, a partition key) is not one that is accepted."""
