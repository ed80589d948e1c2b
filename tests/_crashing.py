"""A real tiny Video-LLaVA adapter that dies like a kill after a number of batches (resume tests)."""

from evalkit.models.videollava import VideoLlavaAdapter


class Crash(BaseException):
    """Raised instead of a kill: no handler of evalkit's catches it."""


class CrashingAdapter(VideoLlavaAdapter):
    """Dies after ``batches_left`` batches; records the ids it generated in ``generated``.  Set
    both on the class when the pipeline builds the adapter, or on an instance."""

    batches_left: int = 1000
    generated: list = []

    def generate(self, batch):
        if self.batches_left <= 0:
            raise Crash()
        self.batches_left -= 1
        self.generated.extend(x.sample_id for x in batch)
        return super().generate(batch)
