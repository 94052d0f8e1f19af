"""HTTP routes (filled in as the domain grows)."""

from fastapi import APIRouter

router = APIRouter()
