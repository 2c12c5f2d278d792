"""The chat page: rendering, follow-up resolution, feedback, corpus watching and the Gradio app.

Only ``server`` imports gradio; the other modules are plain functions and small classes, testable without it.
"""
