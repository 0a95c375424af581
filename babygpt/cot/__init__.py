"""Chapter 13, chain of thought: models that add, with and without a scratchpad.

The problems and their formats are framework-free, in ``lmbase.addition``; here they become
token batches (``batches``), train a babygpt GPT or LLaMA (``training``), and are answered
and scored (``evaluation``).
"""
