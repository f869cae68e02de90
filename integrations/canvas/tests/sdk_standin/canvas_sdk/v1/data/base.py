"""Stand-in of the Django model machinery behind canvas_sdk/v1/data/base.py (Model, its
`objects` manager and QuerySet) of the Canvas SDK 0.203.0, reduced to in-memory records and the
calls the plugin makes: objects.select_related(...), .filter(field=value), .first(), .get()."""


class DoesNotExist(Exception):
    """Django's Model.DoesNotExist."""


class QuerySet:
    def __init__(self, rows):
        self._rows = list(rows)

    def select_related(self, *fields):
        """Related rows are already attached to each record here."""
        return QuerySet(self._rows)

    def filter(self, **kwargs):
        return QuerySet(r for r in self._rows if all(str(getattr(r, k)) == str(v) for k, v in kwargs.items()))

    def first(self):
        return self._rows[0] if self._rows else None

    def get(self, **kwargs):
        rows = self.filter(**kwargs)._rows
        if len(rows) != 1:
            raise DoesNotExist(f"{len(rows)} rows match {sorted(kwargs)}")
        return rows[0]


class Manager:
    """Model.objects. standin_add/standin_clear exist only in the stand-in: tests fill the
    table with them."""

    def __init__(self):
        self._rows = []

    def standin_add(self, *records):
        self._rows.extend(records)
        return records[0] if len(records) == 1 else records

    def standin_clear(self):
        self._rows = []

    def all(self):
        return QuerySet(self._rows)

    def select_related(self, *fields):
        return self.all().select_related(*fields)

    def filter(self, **kwargs):
        return self.all().filter(**kwargs)

    def get(self, **kwargs):
        return self.all().get(**kwargs)


class Model:
    """A record with the model's fields as attributes; unknown fields are refused, as Django's
    constructor refuses them."""

    FIELDS = ()
    DoesNotExist = DoesNotExist

    def __init__(self, **kwargs):
        for name in kwargs:
            if name not in self.FIELDS:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument '{name}'")
        for name in self.FIELDS:
            setattr(self, name, kwargs.get(name))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.objects = Manager()
