"""SEND value-for-money study: data, panel, models and reporting for the book."""
