"""The studio: a local web app (`briefcut serve`) over the same store, graph and edit path as the CLI.

`app` wires the JSON API and the pages; `worker` runs briefs and edits outside the request handlers;
`views` reads runs from the store; `uploads` takes briefs in through the brief loader; `edits` keeps
dry runs until they are confirmed; `bundle` exports approved cuts; `security` guards the doors.
"""
