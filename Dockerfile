FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt "django>=5.2,<6" djangorestframework django-filter drf-spectacular \
    "celery[redis]" redis django-celery-beat "psycopg[binary]" phonenumbers dj-database-url gunicorn whitenoise
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput -v 0
EXPOSE 8000
CMD ["gunicorn", "loymax.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
