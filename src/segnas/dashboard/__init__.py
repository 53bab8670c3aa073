"""`segnas dashboard`: a read-only web view of search and experiment run directories.

`runs` names and bounds the served directories, `data` and `pages` turn a store (read with
`segnas.search.store_read`, which writes nothing beside it) into page data (cached per run,
versioned for conditional polls), `designs` serves one candidate's details and diagram, `app`
the routes.
Starlette is imported by `app` only, so the rest of segnas works without the dashboard extra.
"""
