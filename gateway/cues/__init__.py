"""Spoken and sounded cues for a runner facing away from every screen.

``scheduler`` decides what to say and when (pure); ``voice`` says it (espeak-ng,
a tone, or the terminal bell); ``announcer`` joins them on a clock.
"""
