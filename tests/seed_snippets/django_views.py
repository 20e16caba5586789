"""The seed's Django views, as written.

Changes from the seed: the base URL and the project's id and publishable client key come from
the environment; the imports sit once at the top (the seed's first view forgot `import time`,
which the others have); and the end of the file adds a minimal settings configuration and a
URLconf, so that Django's test client can call the views like a real app would.
"""

import os

import django
import requests
import time
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

BASE_URL = os.environ["KEYGATE_BASE_URL"]
stack_project_id = os.environ["STACK_PROJECT_ID"]
stack_publishable_client_key = os.environ["STACK_PUBLISHABLE_CLIENT_KEY"]


def create_user_api_key(request):
    # Get the current user's access token from session/cookie
    access_token = request.COOKIES.get('stack-access-token')

    # Create API key via client API
    response = requests.post(
        BASE_URL + '/api/v1/user-api-keys',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        },
        json={
            'user_id': 'me',
            'description': 'My client application',
            'expires_at_millis': int((time.time() + 90 * 24 * 60 * 60) * 1000),
        }
    )

    if response.status_code != 200:
        raise Exception(f"Failed to create API key: {response.text}")

    return JsonResponse(response.json())


def create_team_api_key(request, team_id):
    # Get the current user's access token from session/cookie
    access_token = request.COOKIES.get('stack-access-token')

    # Create team API key via client API
    response = requests.post(
        BASE_URL + '/api/v1/team-api-keys',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        },
        json={
            'team_id': team_id,
            'description': 'Team integration service',
            'expires_at_millis': int((time.time() + 60 * 24 * 60 * 60) * 1000),
        }
    )

    if response.status_code != 200:
        raise Exception(f"Failed to create team API key: {response.text}")

    return JsonResponse(response.json())


def list_user_api_keys(request):
    # Get the current user's access token from session/cookie
    access_token = request.COOKIES.get('stack-access-token')

    # List user's API keys via client API
    response = requests.get(
        BASE_URL + '/api/v1/user-api-keys?user_id=me',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        }
    )

    if response.status_code != 200:
        raise Exception(f"Failed to list API keys: {response.text}")

    return JsonResponse(response.json(), safe=False)


def revoke_api_key(request, api_key_id):
    # Get the current user's access token from session/cookie
    access_token = request.COOKIES.get('stack-access-token')

    # Revoke API key via client API (update with revoked: true)
    response = requests.patch(
        f'{BASE_URL}/api/v1/user-api-keys/{api_key_id}',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        },
        json={
            'revoked': True,
        }
    )

    if response.status_code != 200:
        raise Exception(f"Failed to revoke API key: {response.text}")

    return JsonResponse({'message': 'API key revoked successfully'})


def check_api_key_validity(request, api_key_id):
    # Get the current user's access token from session/cookie
    access_token = request.COOKIES.get('stack-access-token')

    # Get API key details via client API
    response = requests.get(
        f'{BASE_URL}/api/v1/user-api-keys/{api_key_id}',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        }
    )

    if response.status_code != 200:
        return JsonResponse({'error': 'API key not found'}, status=404)

    api_key = response.json()

    # Check if manually revoked
    if api_key.get('manually_revoked_at_millis'):
        return JsonResponse({
            'valid': False,
            'reason': 'manually-revoked'
        })

    # Check if expired
    if api_key.get('expires_at_millis'):
        if api_key['expires_at_millis'] < time.time() * 1000:
            return JsonResponse({
                'valid': False,
                'reason': 'expired'
            })

    return JsonResponse({'valid': True})


# --- not in the seed: the smallest Django project that serves the views above ------------------
# The seed leaves the routes to the reader; these are the paths of its FastAPI and Flask apps.
urlpatterns = [
    path('api/create-user-api-key', create_user_api_key),
    path('api/user-api-keys', list_user_api_keys),
    path('api/user-api-keys/<api_key_id>', revoke_api_key),
    path('api/check-api-key/<api_key_id>', check_api_key_validity),
    path('api/teams/<team_id>/api-keys', create_team_api_key),
]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY='seed-snippets-test',
        ALLOWED_HOSTS=['testserver'],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()
