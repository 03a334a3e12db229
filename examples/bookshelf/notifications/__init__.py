"""Customer notifications: the e-mails the bookstore sends about orders."""
