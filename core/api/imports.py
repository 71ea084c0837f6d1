"""Imports over the API: upload a CSV for a registered importer, follow its progress, fetch the report."""
from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.errors import DomainError
from core.imports import import_job_create, importer_get, importers_all
from core.models import ImportJob
from loymax.api.permissions import IsOperator


class ImporterSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    required_columns = serializers.ListField(child=serializers.CharField())
    optional_columns = serializers.ListField(child=serializers.CharField())


class ImportJobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True, allow_null=True)
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = (
            "id", "kind", "state", "original_name", "file_sha256", "rows_total", "rows_done", "rows_ok",
            "rows_failed", "percent", "error_message", "actor_label", "created_at", "started_at", "finished_at",
            "report_url",
        )

    def get_report_url(self, job: ImportJob) -> str | None:
        return f"/api/v1/imports/{job.pk}/report" if job.report else None


class ImportUploadSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="An importer's kind, see GET /api/v1/imports/kinds.")
    file = serializers.FileField(help_text="CSV in UTF-8, ';' or ',' separated, first line naming the columns.")


def _check_permission(request, kind: str) -> None:
    importer = importer_get(kind)
    if importer.permission and not request.user.has_perm(importer.permission):
        raise DomainError("permission_denied", f"Your role may not run '{kind}' imports.", status=403)


class ImporterListView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses=ImporterSerializer(many=True))
    def get(self, request, version: str) -> Response:
        data = [
            {"kind": imp.kind, "label": imp.label, "required_columns": list(imp.required_columns),
             "optional_columns": list(imp.optional_columns)}
            for imp in importers_all().values()
        ]
        return Response(ImporterSerializer(data, many=True).data)


class ImportJobListCreateView(ListAPIView):
    permission_classes = [IsOperator]
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    filterset_fields = ("kind", "state")

    def get_queryset(self):
        return ImportJob.objects.all()

    @extend_schema(request=ImportUploadSerializer, responses={202: ImportJobSerializer})
    def post(self, request, version: str) -> Response:
        form = ImportUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        _check_permission(request, form.validated_data["kind"])
        job = import_job_create(kind=form.validated_data["kind"], upload=form.validated_data["file"],
                                actor=Actor.from_request(request))
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailView(RetrieveAPIView):
    permission_classes = [IsOperator]
    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.all()


class ImportJobReportView(APIView):
    permission_classes = [IsAuthenticated, IsOperator]

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request, version: str, pk: int):
        job = ImportJob.objects.filter(pk=pk).first()
        if job is None:
            raise DomainError("not_found", f"No import job {pk}.", status=404)
        if not job.report:
            raise DomainError("no_report", "This job has no error report (no bad rows, or not finished yet).", status=404)
        return FileResponse(job.report.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.csv",
                            content_type="text/csv")
