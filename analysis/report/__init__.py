"""What readers see: charts and tables in the book's style, each chapter's results, the key numbers and the book build.

The end of the flow: it reads the data, the models and the evaluation; nothing imports it but the CLI.
"""
